"""tunepilot ui."""
