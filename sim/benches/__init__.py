"""cocotb testbenches (run through spikemesh.sim.cocotb_run)."""
