"""sqladmin views, one module per area, with Chinese labels."""
