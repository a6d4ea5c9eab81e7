"""Mail: building RFC 5322 messages and the mailer backends that send them."""
