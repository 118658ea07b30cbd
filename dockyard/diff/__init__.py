"""What a deploy would change on a host: compare the live stack with the next release."""
