// The lineage graph: the page's nodes and edges (JSON in #lineage-data) drawn into
// #lineage-graph by Cytoscape with the dagre layout, what was used on the left and what was
// made from it on the right. A click on a node opens its page.
//
// When the layout is done, #lineage-graph gets data-state="drawn" and data-nodes /
// data-edges (the counts drawn), and window.cairnLineage is the Cytoscape instance, so a
// browser test can wait for the drawing and find where a node is on the canvas.
(function () {
  "use strict";

  var box = document.getElementById("lineage-graph");
  var source = document.getElementById("lineage-data");
  if (!box || !source) return;
  if (typeof cytoscape === "undefined") {
    box.dataset.state = "failed";
    box.textContent = "The graph could not be drawn (Cytoscape did not load); the nodes are listed below.";
    return;
  }

  var graph = JSON.parse(source.textContent);
  var elements = graph.nodes.map(function (node) {
    return {
      group: "nodes",
      data: { id: node.id, label: node.label, url: node.url, kind: node.kind },
      classes: node.root ? node.kind + " root" : node.kind,
    };
  });
  // An edge says src came from (or used) dst; drawn the way data flows, from dst to src,
  // so its PROV relation is named as read along the arrow.
  var along = { used: "used by", wasGeneratedBy: "generated" };
  graph.edges.forEach(function (edge, i) {
    elements.push({
      group: "edges",
      data: {
        id: "edge-" + i,
        source: edge.dst,
        target: edge.src,
        relation: along[edge.relation] || edge.relation,
      },
    });
  });

  box.textContent = "";
  var cy = cytoscape({
    container: box,
    elements: elements,
    minZoom: 0.2,
    maxZoom: 3,
    autoungrabify: true,
    style: [
      {
        selector: "node",
        style: {
          label: "data(label)",
          "text-valign": "center",
          "text-halign": "center",
          "font-size": 12,
          color: "#1d2330",
          width: function (node) { return Math.min(260, 24 + 7 * node.data("label").length); },
          height: 30,
          shape: "round-rectangle",
          "background-color": "#eef0f4",
          "border-width": 1,
          "border-color": "#9aa3b5",
        },
      },
      { selector: "node.run", style: { "background-color": "#dbe7fb", "border-color": "#2f6fde" } },
      { selector: "node.dataset", style: { shape: "barrel", "background-color": "#def3e4", "border-color": "#1e8449" } },
      { selector: "node.model", style: { shape: "cut-rectangle", "background-color": "#fbeedb", "border-color": "#c27c0e" } },
      { selector: "node.prediction", style: { shape: "diamond", height: 40, "background-color": "#f3e5f5", "border-color": "#8e44ad" } },
      { selector: "node.root", style: { "border-width": 3, "font-weight": "bold" } },
      {
        selector: "edge",
        style: {
          width: 1.5,
          "curve-style": "bezier",
          "line-color": "#9aa3b5",
          "target-arrow-color": "#9aa3b5",
          "target-arrow-shape": "triangle",
          label: "data(relation)",
          "font-size": 9,
          color: "#6b7385",
          "text-rotation": "autorotate",
          "text-background-color": "#fff",
          "text-background-opacity": 1,
          "text-background-padding": 2,
        },
      },
    ],
  });

  cy.on("tap", "node", function (event) {
    window.location.assign(event.target.data("url"));
  });
  cy.on("mouseover", "node", function () { box.style.cursor = "pointer"; });
  cy.on("mouseout", "node", function () { box.style.cursor = ""; });

  var layout = cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 24, rankSep: 110, padding: 20, fit: true });
  layout.one("layoutstop", function () {
    if (cy.zoom() > 1.2) {  // a graph of a few nodes, fitted, would fill the box with giants
      cy.zoom(1.2);
      cy.center();
    }
    box.dataset.nodes = String(cy.nodes().length);
    box.dataset.edges = String(cy.edges().length);
    box.dataset.state = "drawn";
  });
  layout.run();
  window.cairnLineage = cy;
})();
