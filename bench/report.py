"""Markdown for docs/performance.md, built only from the figures of one run."""

HOW_TO_RUN = """## How to run it

```bash
bash bench/run                 # everything; writes docs/performance.md (takes several minutes)
.venv/bin/python -m bench      # the same without the bootstrap step
.venv/bin/python -m bench --smoke --output /tmp/perf.md   # a few hundred rows, SQLite only (the test suite runs this)
```

PostgreSQL: the benchmark uses the database named by `BENCH_DATABASE_URL`
(default `postgresql://postgres@127.0.0.1:5432/bench`) and creates it when it is missing.
It drops and recreates every table in that database, so never point it at a database you
keep. SQLite runs use a temporary file. Sizes can be changed on the command line
(`--help`). Run it on an otherwise idle machine: every figure below comes from one run and
depends on what else the machine was doing (see the load average).
"""


def _ms(v):
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _lat_table(rows: dict, first="action") -> list[str]:
    out = [f"| {first} | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    for label, p in rows.items():
        if p.get("n"):
            out.append(f"| {label} | {p['n']} | {_ms(p['p50'])} | {_ms(p['p95'])} | {_ms(p['p99'])} | "
                       f"{_ms(p['max'])} |")
    return out


def render(r: dict) -> str:
    m, c = r["machine"], r["ceiling"]
    lines = ["# Performance", "",
             "Figures measured by `bench/` in one run on one machine; regenerate them with `bash bench/run`.",
             "Nothing below is typed in by hand." + (" **Smoke run: sizes are tiny, figures are not "
                                                     "representative.**" if r["smoke"] else ""), "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in m.items()]
    lines += ["", "## 1. Engine ceiling (SpiffWorkflow alone, in memory)", "",
              "The unlock diagram (`bpmn/personnel_unlock.bpmn`) from start to its end event: start "
              "(build + serialize), report (deserialize, complete 填写解锁申请, run, serialize), approve "
              "(deserialize, complete 审核, run the service task with a no-op operator, serialize). Save and "
              "claim do not touch the workflow in the application, so they cost nothing here. State is "
              "stored without the spec (`engine.serialization`), the spec parsed once (`engine.validation.parse_bpmn`).",
              "",
              f"- **{c['per_second']:.0f} lifecycles/s** ({c['lifecycles']} lifecycles in {c['seconds']:.2f} s, "
              f"one thread); serialized state after start: {c['state_bytes']} bytes", ""]
    lines += ["## 2. Service layer (handlers.services.Services, single thread)", "",
              "The same lifecycle through the domain services, as the web layer calls them: "
              "`unlock.create`, `unlock.save` (reason + one PDF `Upload`), `unlock.report`, `reviews.claim`, "
              "`reviews.approve` (which runs the real `unlock.apply` operator: closes the lock, ends the "
              "assignment, recomputes the person). The session is removed after each action, as at the end "
              "of a request. Finding the task id between report and claim is one untimed query.", "",
              "| database | lifecycles/s | ratio to ceiling | lifecycles |", "|---|---:|---:|---:|"]
    for s in r["service"]:
        lines.append(f"| {s['dialect']} | {s['per_second']:.1f} | {s['per_second'] / c['per_second']:.3f} | "
                     f"{s['lifecycles']} |")
    lines += ["", "Goal: ratio ≥ 0.3. " + _ratio_verdict(r), ""]
    for s in r["service"]:
        lines += [f"### {s['dialect']}: latency and SQL statements per action", ""]
        lines += ["| action | p50 ms | p95 ms | p99 ms | statements | statements sent |",
                  "|---|---:|---:|---:|---:|---|"]
        for a, p in s["actions"].items():
            lines.append(f"| {a} | {_ms(p['p50'])} | {_ms(p['p95'])} | {_ms(p['p99'])} | "
                         f"{s['statements'][a]:.0f} | {s['statement_kinds'][a]} |")
        lines += ["", "Statements are counted with a `before_cursor_execute` listener (so BEGIN/SAVEPOINT sent as "
                  "SQL count, the driver-level COMMIT does not).", ""]
        prof = s.get("profile")
        if prof:
            lines += [f"Where time goes (cProfile over {prof['lifecycles']} lifecycles, {prof['wall_seconds']:.2f} s "
                      "under the profiler; cumulative share of profiled time, the buckets overlap: flush and "
                      "commit include their SQL):", ""]
            lines += [f"- {k}: {v * 100:.0f} %" for k, v in prof["buckets"].items()]
            lines += ["", "<details><summary>top functions by cumulative time</summary>", "", "```",
                      prof["top"], "```", "", "</details>", ""]
    lines += ["## 3. HTTP (gunicorn, 2 workers, PostgreSQL)", ""]
    h = r["http"]
    if h.get("skipped"):
        lines += [f"skipped: {h['skipped']}", ""]
    else:
        lines += [f"- {h['per_second']:.1f} lifecycles/s with {h['threads']} client threads "
                  f"({h['lifecycles']} lifecycles in {h['seconds']:.1f} s), errors: {h['errors']}", ""]
        lines += _lat_table(h["actions"]) + [""]
    lines += ["## 4. Inbox at scale", ""]
    for ib in r["inbox"]:
        ld = ib["loaded"]
        lines += [f"### {ib['dialect']}", "",
                  f"Loaded with `INSERT … SELECT` over a generated series (not through the engine): "
                  f"{ld['finished']:,} finished and {ld['open']:,} open review tasks, "
                  f"{ld['rows']['task_candidate']:,} candidate rows, {ld['rows']['process_instance']:,} instances, "
                  f"{ld['rows']['unlock_application']:,} unlock applications; 16 authorities, 16 agencies, "
                  f"{ld['enterprises']:,} enterprises, {ld['projects']:,} projects. Load time: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in ld["timings"].items()) + ".", "",
                  "Checked, not only timed: " + ", ".join(f"{k} = {v}" for k, v in ib["check"].items()) + ".", "",
                  "Each sample draws a random organisation (and one of its reviewers) or enterprise; the cursor "
                  "of a later page is fetched before the timed call. `+ counts` means the page call also "
                  "returns the four view counts (open, mine, held, done) as the inbox page shows them.", ""]
        lines += _lat_table(ib["latency"], "query") + [""]
        if ib["dialect"] == "postgresql":
            worst = max(p["p95"] for k, p in ib["latency"].items() if not k.startswith("enterprise"))
            lines += [f"Goal p95 ≤ 20 ms for inbox pages: worst p95 here is {_ms(worst)} ms — "
                      + ("met." if worst <= 20 else "**not met**."), ""]
        if ib.get("plans"):
            lines += ["#### Query plans (EXPLAIN (ANALYZE, BUFFERS))", ""]
            for label, plans in ib["plans"].items():
                lines += [f"<details><summary>{label}</summary>", ""]
                for plan in plans:
                    lines += ["```", plan, "```", ""]
                lines += ["</details>", ""]
    lines += ["## 5. Claim storm", ""]
    lines += ["| database | reviewers | winners | refused | errors | p50 ms | p95 ms | p99 ms |",
              "|---|---:|---:|---:|---|---:|---:|---:|"]
    for cs in r["claim"]:
        lt = cs["latency"]
        lines.append(f"| {cs['dialect']} | {cs['reviewers']} | {cs['winners']} | {cs['refused']} | "
                     f"{'; '.join(cs['errors']) or 'none'} | {_ms(lt['p50'])} | {_ms(lt['p95'])} | {_ms(lt['p99'])} |")
    lines += ["", "Each reviewer is a thread with its own application context and session, all released by one "
              "barrier against the same open review task (half of them from the agency, half from the authority).",
              ""]
    mem = r["memory"]
    lines += ["## 6. Memory", "", f"- {mem['label']}: peak resident {mem['peak_mib']:.0f} MiB "
              f"(current {mem['rss_mib']:.0f} MiB)", ""]
    if r.get("notes"):
        lines += ["## Findings", ""] + [f"- {n}" for n in r["notes"]] + [""]
    lines += [HOW_TO_RUN]
    return "\n".join(lines)


def _ratio_verdict(r):
    c = r["ceiling"]["per_second"]
    parts = []
    for s in r["service"]:
        ratio = s["per_second"] / c
        parts.append(f"{s['dialect']} {ratio:.2f} ({'met' if ratio >= 0.3 else 'not met'})")
    return "Measured: " + ", ".join(parts) + "."
