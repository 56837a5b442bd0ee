//! The MCP server. In progress.
