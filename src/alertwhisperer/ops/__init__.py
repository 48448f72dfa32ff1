"""Operations: health, readiness, metrics, logging."""
