"""tunepilot tools."""
