"""spikemesh.rtl"""
