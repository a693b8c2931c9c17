//! What every dashboard page must satisfy in a real browser, checked in the page
//! itself: each form control labelled, each image or chart named, one `h1`, text
//! contrast (WCAG AA) in the colours the browser computed, ids unique, and, at a
//! phone's width, no sideways scrolling.

use std::path::PathBuf;

use super::chromium::Tab;

/// axe-core's script, from `$OUTPOST_TEST_AXE_JS` (tests/run.sh installs it from the npm
/// registry and sets it) or where provisioning/lib.sh puts it. `None` where neither
/// is: the checks here still run.
pub fn axe_source() -> Option<String> {
    let path = std::env::var_os("OUTPOST_TEST_AXE_JS")
        .map(PathBuf::from)
        .or_else(|| {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
                })?;
            Some(data.join("outpost-test/axe/node_modules/axe-core/axe.min.js"))
        })?;
    if std::env::var_os("OUTPOST_TEST_AXE_JS").is_some() {
        // Named on purpose: missing is a broken setup, not a reason to skip.
        return Some(
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("OUTPOST_TEST_AXE_JS={}: {e}", path.display())),
        );
    }
    std::fs::read_to_string(path).ok()
}

/// axe-core's serious and critical violations on the page as it is laid out now.
pub async fn axe(tab: &Tab, source: &str) -> Vec<String> {
    let _: bool = tab.eval(format!("{source}; true")).await;
    tab.eval(
        r#"axe.run(document, { resultTypes: ['violations'] }).then(result =>
          result.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `axe ${v.impact} ${v.id}: ${v.help} at ` +
              v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))"#,
    )
    .await
}

/// Runs in the page; returns one line per problem found.
const ACCESSIBILITY: &str = r#"(() => {
  const problems = [];
  const show = el => el.outerHTML.replace(/\s+/g, ' ').slice(0, 140);
  const named = el => {
    const label = el.getAttribute('aria-label');
    if (label && label.trim()) return true;
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
    return ids.length > 0 && ids.every(id => {
      const target = document.getElementById(id);
      return target && target.textContent.trim();
    });
  };

  if (!document.documentElement.lang) problems.push('<html> has no lang');
  if (!document.title.trim()) problems.push('the page has no title');
  const h1s = document.querySelectorAll('h1').length;
  if (h1s !== 1) problems.push(`${h1s} h1 elements, not exactly one`);

  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push(`duplicate id "${el.id}"`);
    seen.add(el.id);
  }

  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const labelled = [...el.labels].some(l => l.textContent.trim()) || named(el);
    if (!labelled) problems.push('form control without a label: ' + show(el));
  }

  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!el.textContent.trim() && !named(el)) problems.push('control without a name: ' + show(el));
  }

  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push('image without alt: ' + show(img));
  }
  for (const svg of document.querySelectorAll('svg')) {
    if (svg.closest('[aria-hidden="true"]')) continue;
    // Inside a labelled role="img" element the drawing is presentational.
    const holder = svg.parentElement && svg.parentElement.closest('[role="img"]');
    if (holder && named(holder)) continue;
    const title = svg.querySelector(':scope > title');
    const ok = svg.getAttribute('role') === 'img' &&
      (named(svg) || (title && title.textContent.trim()));
    if (!ok) problems.push('svg without role="img" and a name: ' + show(svg));
  }

  // Contrast of every visible piece of text against the background it sits on.
  const rgba = s => (s.match(/[\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const checked = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || checked.has(el)) continue;
    checked.add(el);
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility !== 'visible' || box.width === 0 || box.right < 0) continue;
    const fg = luminance(rgba(style.color));
    const bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}:1 for "${node.textContent.trim().slice(0, 40)}" (${style.color} on ${getComputedStyle(el).backgroundColor})`);
    }
  }
  return problems;
})()"#;

/// Accessibility problems on the page as it is laid out now.
pub async fn accessibility(tab: &Tab) -> Vec<String> {
    tab.eval(ACCESSIBILITY).await
}

/// Whether the first Tab from the top of the page lands on the skip link: focus is
/// reset to the document first (some pages autofocus their first field).
pub async fn skip_link_is_first(tab: &Tab) -> Result<(), String> {
    let _: bool = tab
        .eval(
            "(() => { if (document.activeElement) document.activeElement.blur(); \
             const root = document.documentElement; root.tabIndex = -1; root.focus(); \
             root.removeAttribute('tabindex'); return true; })()",
        )
        .await;
    tab.press("Tab", "Tab", 9).await;
    let focused: String = tab
        .eval(
            "(() => { const a = document.activeElement; \
             return a ? a.outerHTML.replace(/\\s+/g, ' ').slice(0, 120) : 'nothing'; })()",
        )
        .await;
    let is_skip: bool = tab
        .eval(
            "(() => { const a = document.activeElement; return !!a && a.matches('a.skip') \
             && a.getAttribute('href') === '#main' && !!document.getElementById('main') \
             && a.getBoundingClientRect().left >= 0; })()",
        )
        .await;
    let _: bool = tab
        .eval("(() => { document.activeElement && document.activeElement.blur(); return true; })()")
        .await;
    if is_skip {
        Ok(())
    } else {
        Err(format!(
            "the first Tab focuses {focused}, not a visible skip link to #main"
        ))
    }
}

/// How far the page is wider than a screen `width` CSS pixels wide (0 when it does
/// not scroll sideways), and what sticks out furthest. Measured against the screen,
/// not the window: a phone zooms out to fit wide content, widening the window with it.
pub async fn overflow(tab: &Tab, width: i64) -> (f64, String) {
    tab.eval(format!(
        r#"(() => {{
      const excess = document.documentElement.scrollWidth - {width};
      let widest = null, right = 0;
      for (const el of document.body.querySelectorAll('*')) {{
        // Inside a scrolling box (a .table-wrap) width is that box's business.
        if (el.closest('.table-wrap') && !el.matches('.table-wrap')) continue;
        const r = el.getBoundingClientRect().right;
        // The last in document order: the innermost of those that reach as far.
        if (r >= right) {{ right = r; widest = el; }}
      }}
      const what = widest ? widest.outerHTML.replace(/\s+/g, ' ').slice(0, 120) : '';
      return [Math.max(0, excess), what];
    }})()"#
    ))
    .await
}
