"""notifier: delivers every record on the alerts topic to on-call receivers, from a durable outbox."""
