"""Local stand-ins for the services the sandbox cannot reach: Discord and Gemini."""
