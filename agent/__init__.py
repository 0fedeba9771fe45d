"""tunepilot agent."""
