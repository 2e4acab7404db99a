"""The chat in a browser (`python chat.py --web`): a local page where a person talks with one
or several trained runs side by side, over a small JSON API. The same chat as the terminal's:
the runs are loaded and answer through `seq2seq.conversation`.

    api.py      the JSON API without HTTP: what the runs are, every run's reply to a message
    server.py   the HTTP server: routes, request bounds, the page's files, `main`
    static/     index.html, chat.css, chat.js: the page (no external assets, works offline)
"""
