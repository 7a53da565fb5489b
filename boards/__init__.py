"""spikemesh.boards"""
