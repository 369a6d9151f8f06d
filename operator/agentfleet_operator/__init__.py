"""AgentFleet operator: reconciles AgentFleet resources into a running fleet."""
