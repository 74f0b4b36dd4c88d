"""Settings of the integrations (exports storage, Celery, the LLM endpoint), one module each, imported
by config/settings.py (as HackSoft's Styleguide-Example keeps config/settings/celery.py and friends)."""
