"""AgentFleet runtime: the bot processes of one fleet (reception, personas, pipeline)."""
