"""``python -m agentfleet_operator``: the same as the ``agentfleet-operator`` script."""

from agentfleet_operator.main import main

main()
