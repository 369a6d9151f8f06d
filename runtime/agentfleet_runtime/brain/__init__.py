"""The fleet's decisions as plain Python with no I/O: routing, phases, events, speech, tasks."""
