"""chat domain: real-time rooms per company and per incident."""
