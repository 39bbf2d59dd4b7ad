"""Documents in: knowledge-base files (markdown + front matter), passages, and leaflet import (PDF/DOCX/HTML)."""
