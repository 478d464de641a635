-- Optimization strategies a client has turned off, as JSON: { "cache": false, … }.
ALTER TABLE clients ADD COLUMN optimizations TEXT;
