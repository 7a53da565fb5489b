"""spikemesh.gen"""
