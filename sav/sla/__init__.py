"""Service-level agreements (issue 23): the business calendar's arithmetic, the
matching of policies and the rules that start, pause, meet and break a ticket's clocks."""
