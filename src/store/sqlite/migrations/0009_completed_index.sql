-- Cost over time (the dashboard) reads requests by when they ended.
CREATE INDEX requests_completed ON requests(completed_at) WHERE completed_at IS NOT NULL;
