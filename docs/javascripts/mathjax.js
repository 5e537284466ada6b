// MathJax 3 configuration, loaded before MathJax itself (served from this site).
// Markdown pages: pymdownx.arithmatex wraps math in .arithmatex with \( \) and \[ \].
// Notebook pages: markdown cells keep $ and $$, inside .jp-RenderedMarkdown.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  // Search only those two kinds of element: everything inside Material's page
  // container is ignored unless it sits in one of them (their descendants are
  // searched too, which a catch-all ignore pattern would prevent).
  options: {
    ignoreHtmlClass: "md-container",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
};

// MathJax typesets each page once when it loads. The site does not enable
// Material's instant navigation, so every page is a full load; re-typesetting
// on Material's document$ as well raced with that first pass and left the
// math invisible.
