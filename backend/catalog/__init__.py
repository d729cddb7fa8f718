"""Category catalog (部件和事件分类, GB/T 30428.2): components 部件 and events 事件, each a major class 大类
with minor classes 小类 that carry the acceptance and closing conditions, time limits, similar-case
settings and intake questions. ``rules.py`` loads and checks the seed data in ``data/categories.json``."""
