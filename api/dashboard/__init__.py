"""The dashboard: a web page over the regulator API's numbers (login, page, SVG charts)."""
