"""GDPR erasure by crypto-shredding: personal fields of events are encrypted with a
data key per data subject, and erasing the subject destroys its keys (issue 12)."""
