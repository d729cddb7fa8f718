"""Citizens of the WeChat mini-program (市民): login, profile, reports (随手拍) and the public views."""
