"""The AgentFleet API: a typed mirror of the CRD in ``crds/agentfleet.dev_agentfleets.yaml``."""
