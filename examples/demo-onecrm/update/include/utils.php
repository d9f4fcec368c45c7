<?php
function format_money($value, $decimals = 2) { return number_format($value, $decimals, ',', '.'); }
