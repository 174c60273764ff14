"""Generation backends behind one narrow interface (see ``base``); ``registry`` builds them."""
