"""Host link: UART, COBS/CRC framing and the request engine that drives `spikemesh.rtl.bus`."""
