// The console's only script (served from /static, so the CSP can forbid inline script):
// the copy button of a reply, and deadline clocks that count down.
"use strict";

function copyFrom(button) {
  const target = document.getElementById(button.dataset.copy);
  const status = document.getElementById("copy-status");
  if (!target) return;
  const text = target.value !== undefined ? target.value : target.textContent;
  const done = (ok) => {
    if (status) status.textContent = ok ? "已复制到剪贴板" : "复制失败，请手动选择文字复制";
    button.dataset.copied = ok ? "yes" : "no";
  };
  const fallback = () => {
    target.focus();
    target.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    done(ok);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done(true), fallback);
  } else {
    fallback();
  }
}

function span(secs) {
  const s = Math.abs(secs);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return d + "天" + h + "小时";
  if (h > 0) return h + "小时" + m + "分";
  return m + "分钟";
}

function tick() {
  const now = Date.now() / 1000;
  document.querySelectorAll("time.clock[data-due]").forEach((t) => {
    const due = Number(t.dataset.due);
    if (!due) return;
    const left = due - now;
    const label = t.parentElement && t.parentElement.querySelector(".left");
    const text = left >= 0 ? "剩余 " + span(left) : "已超时 " + span(left);
    if (label) label.textContent = text; else t.textContent = text;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy]").forEach((b) => b.addEventListener("click", () => copyFrom(b)));
  tick();
  setInterval(tick, 30000);
});
