"""The SoC around a training core: `top` (the SoC: link front end, bus decoder, identity, and the core),
`loader` (the on-board sample loader, a second bus initiator) and `targets` (the dataset BRAM and the link's
status registers).  Import from the modules themselves."""
