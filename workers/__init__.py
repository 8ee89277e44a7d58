"""Workers claim jobs, load rows by id and call app.services / app.core; nothing more."""
