// One ES module with Preact, its hooks and htm (tagged templates instead of JSX, so no build step
// for cowork's own code). Bundled by scripts/vendor-web.sh into vendor/preact.js.
import htm from 'htm';
import { h } from 'preact';

export { Component, Fragment, createContext, createRef, h, render } from 'preact';
export {
  useCallback, useContext, useEffect, useId, useLayoutEffect, useMemo, useReducer, useRef, useState,
} from 'preact/hooks';
export const html = htm.bind(h);
