"""Registration: editions and the host rotation, delegates, check-in, forums and field visits."""
