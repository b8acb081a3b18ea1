"""Teams, users and services: who and what incidents are about."""
