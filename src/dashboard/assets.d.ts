// Files the dashboard embeds in the binary as text (Bun's `with { type: "text" }` imports).
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.min.css" {
  const text: string;
  export default text;
}
