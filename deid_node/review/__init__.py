"""The quarantine review console: a small web app where admins look at what the models
were not sure about, correct the pixel boxes and decide (release, reprocess, reject).

Off until configured (config section ``review``). Server-rendered pages (Starlette +
Jinja2, served by uvicorn), a little plain JavaScript, every asset served by the node.
See docs/review.md.
"""
