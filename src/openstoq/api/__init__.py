"""The HTTP edge: dispatch, auth, rate limits, errors, responses and the generated documents."""
