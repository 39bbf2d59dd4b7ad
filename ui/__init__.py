"""Web app (Gradio): patient chat and staff console; renders what the engine returns."""
