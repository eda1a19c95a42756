/// The compare report's inline style sheet: one column that reads at laptop width and on a
/// phone (nothing wider than the viewport: tables scroll inside their own box, pictures and
/// charts scale), box styles that differ in line as well as colour.
enum ReportStyle {
    static let css = """
    :root { color-scheme: light; --ink: #1d2430; --muted: #5b6576; --line: #d9dee7; --panel: #f5f7fa;
      --matched: #18a05a; --missed: #e0263c; --extra: #1f6fe5; --up: #137a3f; --down: #c21f32; }
    * { box-sizing: border-box; }
    html { -webkit-text-size-adjust: 100%; }
    body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
      color: var(--ink); background: #fff; }
    main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 48px; }
    h1 { font-size: 1.55rem; line-height: 1.25; margin: 8px 0 4px; }
    h2 { font-size: 1.2rem; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    h3 { font-size: 1rem; margin: 0 0 4px; overflow-wrap: anywhere; }
    p, li { overflow-wrap: anywhere; }
    .sub, .note { color: var(--muted); font-size: 0.9rem; }
    code { font: 0.85em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
    nav { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 12px 0 0; font-size: 0.92rem; }
    a { color: #1a56c4; }
    .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px; margin: 16px 0 0; }
    .card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
    .card .label { color: var(--muted); font-size: 0.8rem; }
    .card .value { font-size: 1.15rem; font-weight: 600; overflow-wrap: anywhere; }
    .card .detail { font-size: 0.82rem; color: var(--muted); }
    .scroll { overflow-x: auto; max-width: 100%; margin: 8px 0; -webkit-overflow-scrolling: touch; }
    table { border-collapse: collapse; font-size: 0.88rem; min-width: 100%; }
    caption { text-align: left; color: var(--muted); font-size: 0.85rem; padding-bottom: 4px; }
    th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; vertical-align: top; }
    th { background: var(--panel); font-weight: 600; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
    td.wrap { white-space: normal; min-width: 8em; }
    table.compact { min-width: 0; }
    tr.worst td { background: #fff4e5; }
    .up { color: var(--up); }
    .down { color: var(--down); }
    details { margin: 8px 0; }
    summary { cursor: pointer; color: #1a56c4; }
    .chart { width: 100%; max-width: 720px; height: auto; display: block; }
    .chart .grid { stroke: #e6e9ef; stroke-width: 1; }
    .chart .axis { stroke: #8a93a3; stroke-width: 1; }
    .chart .marker { stroke: #8a93a3; stroke-width: 1.2; stroke-dasharray: 4 3; }
    .chart .tick { font-size: 12px; fill: var(--muted); }
    .chart .line { fill: none; stroke-width: 2.2; }
    .chart .line.baseline, .chart .dot.baseline { stroke: var(--missed); }
    .chart .line.quantized, .chart .dot.quantized { stroke: var(--extra); }
    .chart .dot { fill: #fff; stroke-width: 2; }
    .legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 0.9rem; margin: 8px 0; }
    .legend svg { width: 34px; height: 14px; vertical-align: middle; margin-right: 4px; }
    .image { border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin: 16px 0; }
    .figures { margin: 0 0 8px; font-size: 0.88rem; color: var(--muted); }
    .figures b { color: var(--ink); }
    .pair { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 14px; align-items: start; }
    @media (max-width: 820px) { .pair { grid-template-columns: minmax(0, 1fr); } main { padding: 10px 12px 40px; } }
    .photo { position: relative; margin: 0; line-height: 0; background: #222; }
    .photo img { display: block; width: 100%; height: auto; }
    .photo svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
    .box { fill: none; vector-effect: non-scaling-stroke; }
    .halo { fill: none; stroke: rgba(0, 0, 0, 0.55); vector-effect: non-scaling-stroke; }
    .box.matched { stroke: var(--matched); stroke-width: 1.6; }
    .box.missed { stroke: var(--missed); stroke-width: 3; stroke-dasharray: 7 4; }
    .box.extra { stroke: var(--extra); stroke-width: 3; }
    .halo.matched { stroke-width: 3; }
    .halo.missed, .halo.extra { stroke-width: 5; }
    .tag { font-weight: 700; paint-order: stroke; stroke: #000; stroke-width: 0.18em; fill: #fff; }
    .boxes { list-style: none; margin: 0; padding: 0; font-size: 0.88rem; }
    .boxes li { padding: 4px 0 4px 2.6em; text-indent: -2.6em; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
    .boxes .n { display: inline-block; width: 1.8em; margin-right: 0.3em; text-align: right; text-indent: 0; font-weight: 700; }
    .boxes .why { display: block; text-indent: 0; color: var(--muted); }
    .kind { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 4px; vertical-align: -0.05em; }
    .kind.matched { background: var(--matched); }
    .kind.missed { background: var(--missed); }
    .kind.extra { background: var(--extra); }
    footer { margin-top: 40px; color: var(--muted); font-size: 0.85rem; }
    """
}
