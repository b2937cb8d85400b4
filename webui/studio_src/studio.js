// Entry point of the studio bundle (built by scripts/build-studio): each studio page names what
// it is in <div id="studio" data-page="…">.
import { startCompare } from './compare';
import { startLive } from './live';
import { startModeler } from './modeler';
import { say } from './status';

const PAGES = { modeler: startModeler, compare: startCompare, live: startLive };

document.addEventListener('DOMContentLoaded', () => {
  const root = document.getElementById('studio');
  const start = root && PAGES[root.dataset.page];
  if (start) start(root).catch((e) => say(`流程设计器加载失败：${e.message}`, 'error'));
});
