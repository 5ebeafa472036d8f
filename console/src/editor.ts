// The SQL editor: CodeMirror 6 with its SQL language, completion of keywords, functions, databases, tables and
// columns from the registry, and Ctrl/Cmd-Enter to run the statement at the cursor (or the selection).

import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { sql, SQLDialect, StandardSQL, type SQLNamespace } from "@codemirror/lang-sql";
import { oneDark } from "@codemirror/theme-one-dark";

export interface EditorHooks {
  onRun: () => void;
  onChange: (text: string) => void;
  onCursor: () => void;
}

const language = new Compartment();
const theme = new Compartment();

// Trino's (Athena's) words beyond standard SQL's, for highlighting and completion.
const athenaKeywords =
  "unnest cross lateral tablesample approx_distinct approx_percentile msck repair partitions tblproperties " +
  "location stored external serde serdeproperties projection explain analyze describe show databases tables " +
  "columns workgroup interval";

let current: SQLDialect = StandardSQL;

/// The SQL dialect: standard SQL's and Athena's keywords, and the engine's functions (completed as words).
export function setFunctions(functions: string[]): void {
  current = SQLDialect.define({
    ...StandardSQL.spec,
    keywords: `${StandardSQL.spec.keywords ?? ""} ${athenaKeywords}`,
    builtin: `${StandardSQL.spec.builtin ?? ""} ${functions.join(" ").toLowerCase()}`,
  });
}

export function createEditor(parent: HTMLElement, doc: string, hooks: EditorHooks, dark: boolean): EditorView {
  const runKeys = Prec.highest(
    keymap.of([
      { key: "Mod-Enter", run: () => (hooks.onRun(), true) },
      { key: "Shift-Enter", run: () => (hooks.onRun(), true) },
    ]),
  );
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        runKeys,
        basicSetup,
        language.of(sql({ dialect: current, upperCaseKeywords: true })),
        theme.of(dark ? oneDark : []),
        EditorView.lineWrapping,
        EditorView.updateListener.of((u) => {
          if (u.docChanged) hooks.onChange(u.state.doc.toString());
          if (u.docChanged || u.selectionSet) hooks.onCursor();
        }),
      ],
    }),
  });
}

/// Completion from the registry: `schema` maps table names (bare for the current database, `db.table` for
/// every one) to their columns.
export function setSchema(view: EditorView, schema: SQLNamespace, defaultTable?: string): void {
  view.dispatch({
    effects: language.reconfigure(
      sql({ dialect: current, schema, upperCaseKeywords: true, defaultTable }),
    ),
  });
}

export function setDark(view: EditorView, dark: boolean): void {
  view.dispatch({ effects: theme.reconfigure(dark ? oneDark : []) });
}

/// The statements of a text: [start, end) ranges split at `;` outside quotes and comments.
export function statements(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"' || c === "`") {
      const close = text.indexOf(c, i + 1);
      i = close < 0 ? text.length : close + 1;
      continue;
    }
    if (c === "-" && text[i + 1] === "-") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl + 1;
      continue;
    }
    if (c === "/" && text[i + 1] === "*") {
      const close = text.indexOf("*/", i + 2);
      i = close < 0 ? text.length : close + 2;
      continue;
    }
    if (c === ";") {
      out.push([start, i]);
      start = i + 1;
    }
    i++;
  }
  out.push([start, text.length]);
  return out;
}

/// The SQL to run: the selection when there is one, else the statement the cursor is in (or just after).
export function statementAtCursor(view: EditorView): string {
  const sel = view.state.selection.main;
  const text = view.state.doc.toString();
  if (!sel.empty) return text.slice(sel.from, sel.to).trim();
  const ranges = statements(text).filter(([a, b]) => text.slice(a, b).trim() !== "");
  const at = sel.head;
  const hit =
    ranges.find(([a, b]) => at >= a && at <= b + 1) ??
    [...ranges].reverse().find(([a]) => a <= at) ??
    ranges[0];
  return hit ? text.slice(hit[0], hit[1]).trim() : "";
}
