"""The domain: pure Python, importing neither FastAPI nor SQLAlchemy."""
