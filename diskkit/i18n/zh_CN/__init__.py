"""简体中文 (zh-CN): one module per area, each with a ``MESSAGES`` dict."""
