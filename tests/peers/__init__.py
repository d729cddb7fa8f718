"""Local peer servers speaking the real wire protocols of outside parties (WeChat, SMS gateways, …), on
127.0.0.1, for the real providers to be tested against (DESIGN §10)."""
